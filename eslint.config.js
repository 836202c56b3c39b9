// ESLint flat config: type-aware rules, explicit return types, a complexity budget and the layering of
// DESIGN.md (pure modules import no client, clock, environment or filesystem).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeIo = ['node:fs', 'node:fs/promises', 'node:child_process', 'node:net', 'node:http', 'node:https', 'fs', 'child_process'];
const pureRestrictions = {
  paths: nodeIo.map((name) => ({ name, message: 'Pure modules do no I/O: pass data in, return data out.' })),
  patterns: [
    {
      group: ['@kubernetes/client-node'],
      allowTypeImports: true,
      message: 'Pure modules may import client-node types only (import type).',
    },
    { group: ['**/kube/*', '**/controllers/*', '**/agent/*', '**/cli/*'], message: 'Pure modules sit below kube/controllers/agent/cli.' },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'operator/src/api/generated/**', 'charts/**', 'scripts/kubebin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/explicit-function-return-type': ['error', { allowExpressions: true, allowTypedFunctionExpressions: true, allowHigherOrderFunctions: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      complexity: ['error', 15],
      'max-depth': ['error', 4],
    },
  },
  {
    files: ['operator/src/render/**', 'operator/src/mcs/**', 'operator/src/iptables/**', 'operator/src/api/**', 'operator/src/util/**'],
    ignores: ['operator/src/iptables/executor.ts'],
    rules: { 'no-restricted-imports': ['error', pureRestrictions] },
  },
  {
    files: ['operator/src/**'],
    ignores: ['operator/src/config/**', 'operator/src/main.ts'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Only operator/src/config reads the environment.' }],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['operator/test/**', 'test/**'],
    rules: {
      '@typescript-eslint/no-unused-expressions': 'off',
      '@typescript-eslint/explicit-function-return-type': 'off',
      complexity: 'off',
    },
  },
);
