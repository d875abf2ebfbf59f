export * from './migrate';
export * from './client';
export * from './prepared';
