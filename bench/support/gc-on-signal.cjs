// Preloaded into the bot by the memory benchmarks (node --expose-gc --require this): SIGUSR2 runs a
// full garbage collection and says so on stdout, so that "memory once idle" is measured after one.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  process.stdout.write('nano-banana-bench:gc-done\n');
});
