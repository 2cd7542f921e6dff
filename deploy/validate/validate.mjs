// Validate custom resources against schemas generated from their CRDs (kubernetes-validate skips
// them). Input: a JSON array of rendered objects. Core kinds are ignored here; an unknown custom
// kind is a failure, so nothing slips through unvalidated.
import { readFileSync } from "node:fs";
import * as vpa from "@kubernetes-models/autoscaler/autoscaling.k8s.io/v1";
import * as istioNetworking from "@kubernetes-models/istio/networking.istio.io/v1";
import * as istioSecurity from "@kubernetes-models/istio/security.istio.io/v1";
import * as monitoring from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const groups = {
  "autoscaling.k8s.io/v1": vpa,
  "networking.istio.io/v1": istioNetworking,
  "security.istio.io/v1": istioSecurity,
  "monitoring.coreos.com/v1": monitoring,
};
const core = /^(v1|apps\/v1|batch\/v1|policy\/v1|autoscaling\/v2|networking\.k8s\.io\/v1|rbac\.authorization\.k8s\.io\/v1)$/;
let checked = 0;
const failures = [];
for (const object of JSON.parse(readFileSync(process.argv[2], "utf8"))) {
  if (core.test(object.apiVersion)) continue;
  const Model = groups[object.apiVersion]?.[object.kind];
  const name = `${object.apiVersion} ${object.kind}/${object.metadata?.name}`;
  if (!Model) {
    failures.push(`${name}: no schema known for this custom resource`);
    continue;
  }
  try {
    new Model(object).validate();
    checked += 1;
  } catch (error) {
    failures.push(`${name}: ${error.message}`);
  }
}
console.log(JSON.stringify({ checked, failures }));
process.exit(failures.length ? 1 : 0);
