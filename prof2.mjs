import { benchDecisions } from '/work/main/dist/bench/decisions.js';
import { execSync } from 'node:child_process';
const sampler = setInterval(() => {
  try { console.log(execSync("ps -eo pcpu,comm,args --sort=-pcpu | head -8 | cut -c1-110").toString()); } catch {}
}, 5000);
const r = await benchDecisions(process.env.MODE, process.env.MODE === 'embedded' ? { DATA_DIR: '/tmp/benchdata' + Date.now() } : { DATABASE_URL: process.env.DBURL, KAFKA_BROKERS: '127.0.0.1:9092', KAFKA_TOPIC_PREFIX: 'p' + Date.now() + '.', PROJECTOR_GROUP_ID: 'g' + Date.now() }, 8);
clearInterval(sampler);
console.log(r);
