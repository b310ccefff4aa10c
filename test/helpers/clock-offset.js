// Preloaded into a Node-RED process (`node --require`) to give it a wall clock that is off by
// CLARUS_TEST_CLOCK_OFFSET_MS, as an instance whose NTP is broken: Date.now() only, which is what the
// package reads for due times. Timers are not affected.
const offset = Number(process.env.CLARUS_TEST_CLOCK_OFFSET_MS ?? 0);
const realNow = Date.now.bind(Date);
Date.now = () => realNow() + offset;
