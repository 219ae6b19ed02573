// Entry of the second bundle (dist/claude-auth-cli.cjs): the admin commands, loaded by cli-loader.ts.
export { runCli } from "./cli.js";
