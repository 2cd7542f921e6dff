// The scenario both official TypeScript clients run against a Bosun server; prints one JSON object.
// SCENARIO_PREFIX: the same scenario against the hello example mounted under that prefix (a gateway's backend).
const prefix = process.env.SCENARIO_PREFIX ?? '';
const n = (name) => (prefix ? `${prefix}_${name}` : name);
const u = (uri) => (prefix ? uri.replace('://', `://${prefix}/`) : uri);

export async function runScenario(client, negotiated) {
  const tools = await client.listTools();
  const add = await client.callTool({ name: n('add'), arguments: { a: 2, b: 3 } });
  const resources = await client.listResources();
  const readme = await client.readResource({ uri: u('bosun://readme') });
  const greeting = await client.readResource({ uri: u('greeting://World') });
  const prompts = await client.listPrompts();
  const review = await client.getPrompt({ name: n('review'), arguments: { code: 'x = 1' } });
  const confirm = await client.callTool({ name: n('confirm_action'), arguments: { action: 'deploy' } });
  return {
    protocolVersion: negotiated,
    tools: tools.tools.map((tool) => tool.name),
    add: { text: add.content[0].text, structured: add.structuredContent },
    resources: resources.resources.map((resource) => resource.uri),
    readme: readme.contents[0].text,
    greeting: greeting.contents[0].text,
    prompts: prompts.prompts.map((prompt) => prompt.name),
    review: review.messages[0].content.text,
    confirm: confirm.content[0].text,
  };
}

export const elicitationAnswer = { action: 'accept', content: { confirm: true } };

export async function main(connect) {
  const url = process.argv[2];
  try {
    const result = await connect(new URL(url));
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(0);
  } catch (error) {
    process.stderr.write(String(error?.stack ?? error) + '\n');
    process.exit(1);
  }
}

// For the stdio clients: `node stdio_vN.mjs COMMAND ARGS...`, the server's working directory in SERVER_CWD.
export async function stdioMain(connect) {
  const [command, ...args] = process.argv.slice(2);
  try {
    const result = await connect(command, args, process.env.SERVER_CWD);
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(0);
  } catch (error) {
    process.stderr.write(String(error?.stack ?? error) + '\n');
    process.exit(1);
  }
}
