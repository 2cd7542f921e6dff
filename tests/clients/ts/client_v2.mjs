// @modelcontextprotocol/client 2.4.0 with version negotiation 'auto' (2026-07-28 when the server speaks it).
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { elicitationAnswer, main, runScenario } from './scenario.mjs';

await main(async (url) => {
  const client = new Client(
    { name: 'bosun-tests-v2', version: '1.0.0' },
    { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: 'auto' } },
  );
  client.setRequestHandler('elicitation/create', async () => elicitationAnswer);
  await client.connect(new StreamableHTTPClientTransport(url));
  const result = await runScenario(client, client.getNegotiatedProtocolVersion?.() ?? client.protocolVersion);
  await client.close();
  return result;
});
