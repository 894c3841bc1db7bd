// Every protocol test of protocols.test.ts again, with the requests prepared in decode
// worker threads (-insert.workers): answers, stored bytes and counters must not change.
process.env.SPILLWAY_TEST_PREPARE_WORKERS = '2';
await import('./protocols.test.js');
