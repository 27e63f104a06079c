export * from './schema';
export * from './space';
export * from './errors';
export * from './analysis';
export * from './notation';
export * from './actions';
