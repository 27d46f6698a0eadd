import { Command, CommanderError } from 'commander';
import { addAccessCommands } from './commands/access.js';
import { addAgentCommands } from './commands/agent.js';
import { addApiCommands } from './commands/api.js';
import { addCopyCommand } from './commands/cp.js';
import { addFileCommands } from './commands/files.js';
import { addLogCommand } from './commands/log.js';
import { addProxyCommand } from './commands/proxy.js';
import { addServerCommands } from './commands/server.js';
import { addSettingCommands } from './commands/settings.js';
import { addWatchCommand } from './commands/watch.js';
import { completionScript } from './completion.js';
import { describeFailure, Exit, usage } from './exits.js';
import type { Io } from './io.js';

const VERSION = '0.1.0';

/** The `accsyn` command: its commands and options, writing to `io`. */
export function buildProgram(io: Io): Command {
  const program = new Command('accsyn')
    .description('The accsyn API from a shell, the workspace server, and the accsyn network proxy.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(accsyn --help lists the commands)')
    // `accsyn server start` hands every flag after it to the server.
    .enablePositionalOptions()
    .addHelpText(
      'after',
      `
The API commands take the credentials from ACCSYN_WORKSPACE, ACCSYN_API_USER and ACCSYN_API_KEY, from the env file
ACCSYN_CREDENTIALS_PATH names, or from ./.env; their flags (--workspace ...) beat these. The key never comes from a
flag, which others could read in the process list. Output is a table at a terminal and JSON otherwise.
Exit codes: 0 ok, 1 accsyn's own fault, 2 usage or bad input, 3 authentication, 4 permission, 5 not found,
6 rate limited after retries, 7 server error, 8 connection; watch, cp: 10 failed, 11 aborted; 130 Ctrl-C. See docs/cli.md.`,
    );
  addApiCommands(program, io);
  addWatchCommand(program, io);
  addFileCommands(program, io);
  addCopyCommand(program, io);
  addAccessCommands(program, io);
  addSettingCommands(program, io);
  addLogCommand(program, io);
  addAgentCommands(program, io);
  addServerCommands(program, io);
  addProxyCommand(program, io);
  program
    .command('completion')
    .description('print the shell completion script: eval "$(accsyn completion bash)"')
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') throw usage(`There is completion for bash and zsh, not '${shell}'.`);
      io.stdout.write(completionScript(program, shell));
    });
  // Subcommands write where the program writes, and end as it does.
  const inherit = (command: Command) => {
    for (const sub of command.commands) {
      sub.exitOverride().configureOutput(program.configureOutput());
      inherit(sub);
    }
  };
  inherit(program);
  return program;
}

/** Runs `accsyn` with these arguments and resolves with its exit code; every failure is written to stderr. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  try {
    await buildProgram(io).parseAsync([...argv], { from: 'user' });
    return Exit.ok;
  } catch (error) {
    // Commander has said what was wrong, or shown the help or the version.
    if (error instanceof CommanderError) return error.exitCode === 0 ? Exit.ok : Exit.usage;
    const { code, text } = describeFailure(error);
    io.stderr.write(`accsyn: ${text}\n`);
    return code;
  }
}
