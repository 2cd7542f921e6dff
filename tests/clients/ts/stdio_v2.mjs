// @modelcontextprotocol/client 2.4.0 over stdio, version negotiation 'auto': launches the server command given
// as arguments (in SERVER_CWD) and runs the shared scenario against it.
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { elicitationAnswer, runScenario, stdioMain } from './scenario.mjs';

await stdioMain(async (command, args, cwd) => {
  const client = new Client(
    { name: 'bosun-tests-v2-stdio', version: '1.0.0' },
    { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: 'auto' } },
  );
  client.setRequestHandler('elicitation/create', async () => elicitationAnswer);
  await client.connect(new StdioClientTransport({ command, args, cwd, stderr: 'inherit' }));
  const result = await runScenario(client, client.getNegotiatedProtocolVersion?.() ?? client.protocolVersion);
  await client.close();
  return result;
});
