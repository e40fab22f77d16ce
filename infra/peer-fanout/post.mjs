// The fan-out bench's peer: posts one frame to many WebSocket connections the way
// aws-samples/simple-websockets-chat-app's sendmessage/app.js does (a Management API client built
// per invocation, one PostToConnectionCommand per connection, all of them in one unbounded
// Promise.all), so that the bench can compare our fan-out with it on the same sockets.
//
// Input: one JSON job per stdin line, {"endpoint", "connection_ids": [...], "frame": "<text>"};
// one process serves many jobs, as a warm Lambda instance serves many invocations. Output: one
// JSON line per job, {"elapsed_ms", "ok", "failed", "error"}; elapsed_ms is the Promise.all alone
// (from the first post started to the last answered). Credentials and region come from the
// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION), as in Lambda.
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from "@aws-sdk/client-apigatewaymanagementapi";
import { createInterface } from "node:readline";

async function post({ endpoint, connection_ids: connectionIds, frame }) {
  // As in the sample: a client per invocation, with the SDK's defaults.
  const client = new ApiGatewayManagementApiClient({ endpoint });
  let ok = 0;
  let failed = 0;
  let error = null;
  const started = performance.now();
  // The sample's map: every post starts at once; a failure is counted here where the sample
  // deletes a gone connection or rethrows.
  const postCalls = connectionIds.map(async (connectionId) => {
    try {
      await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: frame }));
      ok += 1;
    } catch (e) {
      failed += 1;
      error ??= `${e.name}: ${e.message}`;
    }
  });
  await Promise.all(postCalls);
  const elapsed_ms = performance.now() - started;
  client.destroy();
  return { elapsed_ms, ok, failed, error };
}

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line.trim()) continue;
  let result;
  try {
    result = await post(JSON.parse(line));
  } catch (e) {
    result = { elapsed_ms: null, ok: 0, failed: 0, error: `${e.name}: ${e.message}` };
  }
  process.stdout.write(JSON.stringify(result) + "\n");
}
