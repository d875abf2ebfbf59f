export * from './errors';
export * from './validate';
export * from './principal';
export * from './app';
export * from './run';
export * from './internal-client';
export * from './outbound';
