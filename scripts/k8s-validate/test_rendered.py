"""Every object of the rendered kustomizations (deploy/k8s/rendered/*.yaml, written by scripts/k8s-validate.sh
--write) validates strictly against the Kubernetes OpenAPI schemas of a pinned version with kubernetes-validate, and the
custom resources (ServiceMonitor, ScaledObject) against the schemas of their published CRDs
(test/fixtures/schemas/crd-schemas-strict.json, built from the vendored CRDs). One test per object, so the unittest
summary counts objects; the last tests show that both checks fail on a misspelt field.

    scripts/.venv-k8s/bin/python -m unittest scripts/k8s-validate/test_rendered.py -v
"""

import copy
import json
import re
import unittest
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.30.0"
ROOT = Path(__file__).resolve().parents[2]
RENDERED = ROOT / "deploy/k8s/rendered"
CRDS = json.loads((ROOT / "test/fixtures/schemas/crd-schemas-strict.json").read_text())["$defs"]


def crd_key(doc):
    return f"kind:{doc['apiVersion'].replace('/', '.')}.{doc['kind']}"


def validate(doc):
    """Raises on an invalid object; returns what it was checked against."""
    if crd_key(doc) in CRDS:
        jsonschema.Draft202012Validator(CRDS[crd_key(doc)]).validate(doc)
        return "CRD schema"
    return f"Kubernetes {kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)}"


def objects():
    for path in sorted(RENDERED.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path.name, doc


class RenderedManifests(unittest.TestCase):
    def test_renders_exist(self):
        self.assertGreaterEqual(len(list(RENDERED.glob("*.yaml"))), 5)

    def test_strict_checks_fail_on_a_misspelt_field(self):
        docs = {d["kind"]: d for _, d in objects()}
        deployment = copy.deepcopy(docs["Deployment"])
        deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
        with self.assertRaises(kubernetes_validate.ValidationError):
            validate(deployment)
        for kind in ("ServiceMonitor", "ScaledObject"):
            bad = copy.deepcopy(docs[kind])
            bad["spec"]["pollingIntervall"] = 15
            with self.assertRaises(jsonschema.ValidationError, msg=kind):
                validate(bad)


def _add(file, doc, n):
    def test(self):
        try:
            checked = validate(doc)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as e:
            path = ".".join(str(p) for p in e.absolute_path)
            self.fail(f"{file} {doc['kind']}/{doc['metadata']['name']}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            self.fail(f"{file}: {e.message}")
        self.assertTrue(checked)

    name = f"test_{n:02d}_{file.removesuffix('.yaml')}_{doc['kind']}_{doc['metadata']['name']}"
    setattr(RenderedManifests, re.sub(r"\W", "_", name).lower(), test)


for _n, (_file, _doc) in enumerate(objects()):
    _add(_file, _doc, _n)

if __name__ == "__main__":
    unittest.main()
