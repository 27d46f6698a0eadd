export { CliError, describeFailure, Exit, type ExitCode } from './exits.js';
export type { Io } from './io.js';
export { buildProgram, run } from './program.js';
