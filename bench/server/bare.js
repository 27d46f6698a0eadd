// The baseline of the server benchmark: a bare fastify route that answers each known request line with fixed
// bytes, so that what remains of the real server's time is its own work. Started by run.js as a child process:
// `node bench/server/bare.js <answers.json>`, where the file maps a request line (path and query) to a body.
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const answers = new Map(Object.entries(JSON.parse(readFileSync(process.argv[2], 'utf8'))));
const app = Fastify({ logger: false, http: { maxHeaderSize: 512 * 1024 } });
app.get('/api/v3/event', (request, reply) => {
  const body = answers.get(request.raw.url);
  if (body === undefined) return reply.code(404).send({ message: 'unknown request' });
  return reply.type('application/json; charset=utf-8').send(body);
});
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening on ${url}\n`);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
