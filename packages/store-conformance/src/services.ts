import { existsSync } from 'node:fs';

/** The backends this repo's adapters (and yours) can ask for. */
export type ServiceKind = 'redis' | 'redis-cluster' | 'postgres' | 'mongo';

export type ServiceResolution =
  | { available: true; url: string; source: 'env' | 'testcontainers'; stop: () => Promise<void> }
  | { available: false; reason: string };

/** Where each service is found: an environment variable, or a container image. */
export const SERVICE_ENV: Record<ServiceKind, string> = {
  redis: 'SESS_REDIS_URL',
  'redis-cluster': 'SESS_REDIS_CLUSTER_NODES',
  postgres: 'SESS_POSTGRES_URL',
  mongo: 'SESS_MONGO_URL',
};

const noop = async () => undefined;

/**
 * Find a backend for tests: the SESS_* variable when set; else a container
 * through Testcontainers when a Docker engine answers; else unavailable with
 * a reason to print. With SESS_REQUIRE_SERVICES=1 (CI), unavailable throws.
 */
export async function resolveService(kind: ServiceKind): Promise<ServiceResolution> {
  const variable = SERVICE_ENV[kind];
  const fromEnv = process.env[variable];
  if (fromEnv) return { available: true, url: fromEnv, source: 'env', stop: noop };

  let resolution: ServiceResolution;
  const docker = dockerHint();
  if (!docker) {
    resolution = {
      available: false,
      reason: `${variable} is not set and no Docker engine is reachable`,
    };
  } else {
    try {
      resolution = await startContainer(kind);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      resolution = {
        available: false,
        reason: `${variable} is not set and Testcontainers failed: ${why}`,
      };
    }
  }
  if (!resolution.available && process.env.SESS_REQUIRE_SERVICES === '1') {
    throw new Error(`SESS_REQUIRE_SERVICES=1 but ${kind} is unavailable: ${resolution.reason}`);
  }
  return resolution;
}

/** A cheap look for a Docker engine before importing Testcontainers. */
function dockerHint(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock');
}

async function startContainer(kind: ServiceKind): Promise<ServiceResolution> {
  switch (kind) {
    case 'redis': {
      const { RedisContainer } = await import('@testcontainers/redis');
      const container = await new RedisContainer('redis:7-alpine').start();
      return {
        available: true,
        url: container.getConnectionUrl(),
        source: 'testcontainers',
        stop: async () => void (await container.stop()),
      };
    }
    case 'postgres': {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const container = await new PostgreSqlContainer('postgres:16-alpine').start();
      return {
        available: true,
        url: container.getConnectionUri(),
        source: 'testcontainers',
        stop: async () => void (await container.stop()),
      };
    }
    case 'mongo': {
      const { MongoDBContainer } = await import('@testcontainers/mongodb');
      const container = await new MongoDBContainer('mongo:7').start();
      return {
        available: true,
        url: `${container.getConnectionString()}/?directConnection=true`,
        source: 'testcontainers',
        stop: async () => void (await container.stop()),
      };
    }
    case 'redis-cluster':
      return {
        available: false,
        reason:
          'SESS_REDIS_CLUSTER_NODES is not set (a cluster is not started through Testcontainers; run scripts/services/redis-cluster.sh)',
      };
  }
}
