/** The library: what `import ... from 'dedup-pool'` gives, part by part (ARCHITECTURE.md). */
export * from './common/index.js';
export * from './store/index.js';
export * from './amqp/index.js';
export * from './threads/index.js';
export * from './replica/index.js';
export * from './supervisor/index.js';
