// @modelcontextprotocol/sdk 1.32.2 over stdio: the 2025-era client desktop hosts ship.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { elicitationAnswer, runScenario, stdioMain } from './scenario.mjs';

await stdioMain(async (command, args, cwd) => {
  const client = new Client({ name: 'bosun-tests-v1-stdio', version: '1.0.0' }, { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, async () => elicitationAnswer);
  const transport = new StdioClientTransport({ command, args, cwd, stderr: 'inherit' });
  let negotiated;
  transport.setProtocolVersion = (version) => { negotiated = version; };  // the client reports what initialize agreed
  await client.connect(transport);
  const result = await runScenario(client, negotiated);
  await client.close();
  return result;
});
