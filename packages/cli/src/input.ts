import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { usage } from './exits.js';
import type { Io } from './io.js';

/** The text of a `<json | @file | ->` argument: itself, a file's contents, or standard input. */
async function textOf(argument: string, io: Io): Promise<string> {
  if (argument === '-') {
    let text = '';
    for await (const chunk of io.stdin) text += chunk;
    return text;
  }
  if (argument.startsWith('@')) {
    try {
      return readFileSync(argument.slice(1), 'utf8');
    } catch (error) {
      throw usage(
        `Cannot read ${argument.slice(1)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`,
      );
    }
  }
  return argument;
}

/** A JSON object (or, where `lists` allows, a list) from an argument, with a sentence that says what is wrong. */
export async function jsonArgument(argument: string, io: Io, what: string, lists = false): Promise<object> {
  const text = await textOf(argument, io);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw usage(`${what} must be JSON: ${(error as Error).message}.`);
  }
  const isObject = typeof value === 'object' && value !== null && (lists || !Array.isArray(value));
  if (!isObject)
    throw usage(`${what} must be a JSON object${lists ? ' or a list' : ''}, not ${JSON.stringify(value)}.`);
  return value as object;
}

/** A parser of a whole-number option of at least `min`, for commander. */
export function wholeNumber(min: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!/^\d+$/.test(text.trim()) || value < min) {
      throw new InvalidArgumentError(`It must be a whole number of at least ${min}.`);
    }
    return value;
  };
}

/** Collects a repeated option into a list, for commander. */
export const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
