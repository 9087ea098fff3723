// Reading a password for the command line: from a prompt with echo off when a person is at a
// terminal, otherwise the first line of stdin (so scripts can pipe it in). Never from argv,
// where it would land in shell history and in `ps`.
import readline from 'node:readline';

export async function readPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let data = '';
    for await (const chunk of stdin) data += String(chunk);
    return data.split(/\r?\n/)[0] ?? '';
  }
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: stdin, output: process.stderr, terminal: true });
    const rlWithOutput = rl as unknown as { _writeToOutput: (s: string) => void };
    let muted = false;
    rlWithOutput._writeToOutput = (s: string) => {
      if (!muted) process.stderr.write(s);
    };
    rl.question(prompt, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    muted = true;
  });
}
