export * from './weights';
export * from './model';
