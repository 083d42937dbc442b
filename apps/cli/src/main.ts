import 'reflect-metadata';
import { runCli } from './cli.js';

const io = { out: (t: string) => process.stdout.write(t), err: (t: string) => process.stderr.write(t), tty: process.stderr.isTTY === true };
runCli(process.argv.slice(2), process.env, io).then((code) => process.exit(code));
