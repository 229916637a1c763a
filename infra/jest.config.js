module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { "^.+\\.tsx?$": "ts-jest" },
  // Synthesizing the whole stack takes a few seconds per app.
  testTimeout: 120000,
};
