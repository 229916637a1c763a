import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { CfnResource, IAspect, Stack } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** The logical id a `{ Ref }` or `{ Fn::GetAtt }` token resolves to, if it is one. */
function referencedId(stack: Stack, value: unknown): string | undefined {
  const resolved = stack.resolve(value);
  return resolved?.Ref ?? resolved?.['Fn::GetAtt']?.[0];
}

/**
 * Makes every Lambda function wait for every IAM policy attached to its role.
 *
 * With `@aws-cdk/aws-lambda:createNewPoliciesWithAddToRolePolicy`, grants become separate
 * `AWS::IAM::Policy` resources that the function does not reference, so CloudFormation may
 * create the function (CreateFunction checks the dead-letter queue permission) or invoke it
 * (a trigger) before they exist. Event source mappings, Function URLs, versions and triggers
 * reference the function, so they wait too.
 */
export class FunctionsAfterTheirPolicies implements IAspect {
  visit(node: IConstruct): void {
    if (!(node instanceof Stack)) return;
    const stack = node;
    const policiesByRole = new Map<string, CfnResource[]>();
    for (const c of stack.node.findAll()) {
      if (!(c instanceof iam.CfnPolicy || c instanceof iam.CfnManagedPolicy)) continue;
      for (const role of stack.resolve(c.roles) ?? []) {
        const id = role?.Ref;
        if (typeof id !== 'string') continue;
        policiesByRole.set(id, [...(policiesByRole.get(id) ?? []), c]);
      }
    }
    for (const c of stack.node.findAll()) {
      if (!(c instanceof lambda.CfnFunction)) continue;
      const role = referencedId(stack, c.role);
      for (const policy of (role && policiesByRole.get(role)) || []) c.addResourceDependency(policy);
    }
  }
}
