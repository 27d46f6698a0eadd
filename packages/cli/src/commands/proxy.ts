import type { Command } from 'commander';
import type { Io } from '../io.js';

export function addProxyCommand(program: Command, io: Io): void {
  void program;
  void io;
}
