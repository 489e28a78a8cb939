// The reference BullMQ (npm `bullmq`) as a test peer of the AUDITRON queue modules.
//   node bullmq_tool.js worker <redis-url> <queue> [concurrency] [clock-offset-ms]
//       a real Worker; one JSON line per event on stdout ({"event": "ready"|"active"|"completed"|"failed", "id"});
//       a job whose data has fail: true throws; data.ms makes it take that long. clock-offset-ms shifts Date.now()
//       back, so jobs finish "in the past" (to test clean's grace periods without waiting days).
//   node bullmq_tool.js add <redis-url> <queue> <count> [json-data]   -> {"ids": [...]}
//   node bullmq_tool.js counts <redis-url> <queue>                      -> getJobCounts() and isPaused()
//   node bullmq_tool.js clean <redis-url> <queue> <grace-ms> <limit> <type>  -> {"removed": [...]}
// Found through NODE_PATH=$SARK_BULLMQ_NODE_DIR/node_modules (scripts/setup.sh installs it).
'use strict';
const { Queue, Worker } = require('bullmq');

function connection(url) {
  const u = new URL(url);
  const db = u.pathname && u.pathname.length > 1 ? parseInt(u.pathname.slice(1), 10) : 0;
  const conn = { host: u.hostname, port: parseInt(u.port || '6379', 10), db, maxRetriesPerRequest: null };
  if (u.password) conn.password = decodeURIComponent(u.password);
  return conn;
}

const out = (value) => process.stdout.write(JSON.stringify(value) + '\n');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const [cmd, url, name, ...rest] = process.argv.slice(2);
  const opts = { connection: connection(url), prefix: 'bull' };
  if (cmd === 'worker') {
    const concurrency = parseInt(rest[0] || '5', 10);
    const offset = parseInt(rest[1] || '0', 10);
    if (offset) {
      const realNow = Date.now.bind(Date);
      Date.now = () => realNow() - offset;
    }
    const worker = new Worker(name, async (job) => {
      out({ event: 'active', id: job.id });
      if (job.data && job.data.ms) await sleep(job.data.ms);
      if (job.data && job.data.fail) throw new Error('job ' + job.id + ' failed on purpose');
      return { ok: true };
    }, { ...opts, concurrency });
    worker.on('completed', (job) => out({ event: 'completed', id: job.id }));
    worker.on('failed', (job) => out({ event: 'failed', id: job && job.id }));
    const stop = async () => { await worker.close(); process.exit(0); };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    await worker.waitUntilReady();
    out({ event: 'ready' });
    return;
  }
  const queue = new Queue(name, opts);
  try {
    if (cmd === 'add') {
      const count = parseInt(rest[0], 10);
      const data = rest[1] ? JSON.parse(rest[1]) : {};
      const jobs = await queue.addBulk(Array.from({ length: count }, (_, i) => ({ name: 'agentic-job', data: { ...data, n: i } })));
      out({ ids: jobs.map((job) => job.id) });
    } else if (cmd === 'counts') {
      out({ counts: await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'paused'),
            paused: await queue.isPaused() });
    } else if (cmd === 'clean') {
      out({ removed: await queue.clean(parseInt(rest[0], 10), parseInt(rest[1], 10), rest[2]) });
    } else {
      throw new Error('unknown command ' + cmd);
    }
  } finally {
    await queue.close();
  }
}

main().catch((err) => { process.stderr.write(String(err && err.stack || err) + '\n'); process.exit(1); });
