export * from './migrate';
export * from './client';
