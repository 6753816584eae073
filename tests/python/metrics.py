"""Parses the Prometheus text exposition format with the reference parser.

Reads the body of a /metrics response on standard input and prints every
family as JSON: {name: {"type": ..., "samples": [[name, labels, value]]}}.
A body the parser refuses fails with its error.

Usage: python3 metrics.py < body
"""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = {
        "type": family.type,
        "samples": [[s.name, s.labels, s.value] for s in family.samples],
    }
json.dump(families, sys.stdout)
