// The reference BullMQ (npm `bullmq`) as a test peer of the AUDITRON queue modules.
//   node bullmq_tool.js worker <redis-url> <queue[,queue...]> [concurrency] [clock-offset-ms]
//       a real Worker; one JSON line per event on stdout ({"event": "ready"|"active"|"completed"|"failed", "id"});
//       a job whose data has fail: true throws; data.ms makes it take that long. clock-offset-ms shifts Date.now()
//       back, so jobs finish "in the past" (to test clean's grace periods without waiting days).
//   node bullmq_tool.js add <redis-url> <queue> <count> [json-data]   -> {"ids": [...]}
//   node bullmq_tool.js counts <redis-url> <queue>                      -> getJobCounts() and isPaused()
//   node bullmq_tool.js prepare <redis-url> <queue[,queue...]> <json-groups>
//       for each group {count, offset_ms, fail}: add count jobs to every queue, then let a real Worker whose clock runs
//       offset_ms behind finish them (all in this one process) -> {"counts": {queue: getJobCounts()}}
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
    // one Worker per queue named (comma-separated)
    const workers = name.split(',').map((queueName) => {
      const worker = new Worker(queueName, async (job) => {
        out({ event: 'active', queue: queueName, id: job.id });
        if (job.data && job.data.ms) await sleep(job.data.ms);
        if (job.data && job.data.fail) throw new Error('job ' + job.id + ' failed on purpose');
        return { ok: true };
      }, { ...opts, concurrency });
      worker.on('completed', (job) => out({ event: 'completed', queue: queueName, id: job.id }));
      worker.on('failed', (job) => out({ event: 'failed', queue: queueName, id: job && job.id }));
      return worker;
    });
    const stop = async () => { await Promise.all(workers.map((w) => w.close())); process.exit(0); };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    out({ event: 'ready' });
    return;
  }
  if (cmd === 'prepare') {
    const names = name.split(',');
    const realNow = Date.now.bind(Date);
    const queues = names.map((q) => new Queue(q, opts));
    for (const group of JSON.parse(rest[0])) {
      await Promise.all(queues.map((queue) => queue.addBulk(Array.from({ length: group.count },
        (_, i) => ({ name: 'agentic-job', data: { fail: !!group.fail, n: i } })))));
      Date.now = () => realNow() - (group.offset_ms || 0);
      let left = group.count * names.length;
      await new Promise((resolve, reject) => {
        const workers = names.map((q) => {
          const worker = new Worker(q, async (job) => {
            if (job.data.fail) throw new Error('job ' + job.id + ' failed on purpose');
            return { ok: true };
          }, { ...opts, concurrency: 5 });
          const done = () => { left -= 1; if (left === 0) resolve(Promise.all(workers.map((w) => w.close()))); };
          worker.on('completed', done);
          worker.on('failed', done);
          worker.on('error', reject);
          return worker;
        });
      });
      Date.now = realNow;
    }
    const result = {};
    for (const queue of queues) {
      result[queue.name] = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'paused');
      await queue.close();
    }
    out({ counts: result });
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
