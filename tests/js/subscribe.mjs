// One graphql-ws client, as an app would use it, driven by the pytest suite.
//
// Usage: node subscribe.mjs '{"url": "ws://...", "token": "...", "query": "...", "variables": {}}'
// Prints one JSON object per line on stdout:
//   {"connected": true}            the server acknowledged connection_init
//   {"next": <execution result>}   one per event
//   {"error": [<graphql errors>]}  the subscription ended with errors
//   {"complete": true}             the server completed the subscription
//   {"closed": <close code>}       the socket closed
// It runs until its standard input ends, then disposes of the client and exits.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const config = JSON.parse(process.argv[2]);

function emit(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

const client = createClient({
  url: config.url,
  webSocketImpl: WebSocket,
  connectionParams: config.token ? { authorization: `Bearer ${config.token}` } : {},
  lazy: false,
  // The tests decide when to reconnect, and with which cursor.
  retryAttempts: 0,
  onNonLazyError: (error) => emit({ nonLazyError: String(error?.code ?? error) }),
  on: {
    connected: () => emit({ connected: true }),
    closed: (event) => emit({ closed: event?.code ?? null }),
  },
});

client.subscribe(
  { query: config.query, variables: config.variables ?? {} },
  {
    next: (result) => emit({ next: result }),
    // GraphQL errors arrive as a list; a socket that closed arrives as its close event.
    error: (error) =>
      emit({
        error: Array.isArray(error)
          ? error
          : [{ message: String(error?.reason ?? error), closeCode: error?.code ?? null }],
      }),
    complete: () => emit({ complete: true }),
  },
);

process.stdin.resume();
process.stdin.on("end", async () => {
  await client.dispose();
  process.exit(0);
});
