// @modelcontextprotocol/sdk 1.32.2: the 2025-era session client most deployed hosts still use.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { elicitationAnswer, main, runScenario } from './scenario.mjs';

await main(async (url) => {
  const client = new Client({ name: 'bosun-tests-v1', version: '1.0.0' }, { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, async () => elicitationAnswer);
  const transport = new StreamableHTTPClientTransport(url);
  await client.connect(transport);
  const result = await runScenario(client, transport.protocolVersion);
  await transport.terminateSession();
  await client.close();
  return result;
});
