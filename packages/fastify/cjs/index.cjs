'use strict';
// `require('@sess/fastify')` returns the plugin itself, as
// `require('@fastify/session')` does; the named exports ride on it.
const mod = require('../dist/index.cjs');
module.exports = Object.assign(mod.default, mod);
