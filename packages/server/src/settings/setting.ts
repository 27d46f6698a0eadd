import { objectOf } from '../entities/write.js';
import type { EventContext } from '../events.js';
import { badRequest } from '../http/errors.js';
import { chainOf, checkWritable, type HolderRef, holderNamed, type SettingHolder } from './holders.js';
import { canonicalValue, settingNamed, settingsOf } from './registry.js';
import { keyOf, putValue, removeValue, valuesBelow, valuesOn } from './values.js';

/**
 * The `setting` event (reference §2.3, §2.4): GET with a `name` is get_setting, GET without one get_settings, PUT
 * set_setting, DELETE delete_setting. The holder is `data.entitytype` with the envelope's `id`.
 */
export async function setting(context: EventContext): Promise<unknown> {
  const data = objectOf(context.envelope.data ?? {}, 'setting');
  switch (context.method) {
    case 'GET':
      return data.name === undefined || data.name === null ? getSettings(context, data) : getSetting(context, data);
    case 'PUT':
      return setSetting(context, data);
    case 'DELETE':
      return deleteSetting(context, data);
    default:
      throw badRequest(`setting takes GET, PUT or DELETE, not ${context.method}.`);
  }
}

/** get_setting: the value set on the holder, else the nearest one set above it, else the default (maybe null). */
async function getSetting(context: EventContext, data: Record<string, unknown>): Promise<string | null> {
  if (data.integration !== undefined && data.integration !== null) {
    throw badRequest(`setting: this server has no integrations, so no settings of '${String(data.integration)}'.`);
  }
  const holder = await holderNamed(context, data.entitytype, context.envelope.id);
  const setting = settingNamed(data.name, holder.holder);
  const chain = [holder, ...chainOf(holder, context.caller.workspace.id)];
  const values = await valuesOn(context.store, context.caller.workspace.id, chain, setting.name);
  return firstValue(values, chain, setting.name) ?? setting.default;
}

/**
 * get_settings: a dict of name and value over the settings the holder may have. `upstream` adds what it inherits;
 * `omit_defaults` (true unless false) leaves out what is set nowhere (a setting without a default is never shown
 * unset); `recursive` adds what is set on the entities below it, each under `<holder>:<id>`.
 */
async function getSettings(context: EventContext, data: Record<string, unknown>): Promise<Record<string, unknown>> {
  const flag = (name: string, otherwise: boolean) => {
    const value = data[name] ?? otherwise;
    if (typeof value !== 'boolean') throw badRequest(`setting: ${name} must be true or false.`);
    return value;
  };
  const upstream = flag('upstream', false);
  const omitDefaults = flag('omit_defaults', true);
  const recursive = flag('recursive', false);
  const holder = await holderOfSettings(context, data);
  const workspace = context.caller.workspace.id;
  const chain = upstream ? [holder, ...chainOf(holder, workspace)] : [holder];
  const values = await valuesOn(context.store, workspace, chain);
  const answer: Record<string, unknown> = {};
  for (const setting of settingsOf(holder.holder)) {
    const value = firstValue(values, chain, setting.name) ?? (omitDefaults ? null : setting.default);
    if (value !== null) answer[setting.name] = value;
  }
  if (recursive) {
    for (const [key, own] of await valuesBelow(context.store, context.caller, holder)) {
      answer[key] = Object.fromEntries(own);
    }
  }
  return answer;
}

/** The holder of a get_settings, which may name a share by `data.share` (its id) instead of the envelope's id. */
function holderOfSettings(context: EventContext, data: Record<string, unknown>): Promise<SettingHolder> {
  const share = data.share;
  if (share === undefined || share === null) return holderNamed(context, data.entitytype, context.envelope.id);
  if (context.envelope.id !== undefined && context.envelope.id !== share) {
    throw badRequest("setting: data.share and the envelope's id name different entities; give one of them.");
  }
  const type = data.entitytype ?? 'share';
  if (typeof type !== 'string' || !['share', 'volume', 'folder', 'home', 'collection'].includes(type.toLowerCase())) {
    throw badRequest(`setting: data.share names a share, so data.entitytype must be a share type or null.`);
  }
  return holderNamed(context, type, share);
}

async function setSetting(context: EventContext, data: Record<string, unknown>): Promise<true> {
  const holder = await holderNamed(context, data.entitytype, context.envelope.id);
  await checkWritable(context, holder);
  const setting = settingNamed(data.name, holder.holder);
  const value = canonicalValue(setting, data.value);
  const { caller, store } = context;
  await putValue(store, caller.workspace.id, holder, setting.name, value, caller.user.id);
  return true;
}

/** delete_setting: the holder goes back to what it inherits. Removing a value that is not set answers true too. */
async function deleteSetting(context: EventContext, data: Record<string, unknown>): Promise<true> {
  const holder = await holderNamed(context, data.entitytype, context.envelope.id);
  await checkWritable(context, holder);
  const setting = settingNamed(data.name, holder.holder);
  await removeValue(context.store, context.caller.workspace.id, holder, setting.name);
  return true;
}

/** The value of `name` on the first holder of `chain` that sets it. */
function firstValue(
  values: Map<string, Map<string, string>>,
  chain: readonly HolderRef[],
  name: string,
): string | undefined {
  for (const ref of chain) {
    const value = values.get(keyOf(ref))?.get(name);
    if (value !== undefined) return value;
  }
  return undefined;
}
