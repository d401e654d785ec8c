"""``interaction-lake serve``: the SQL endpoint for BI tools and analysts (``interaction_lake.serving``)."""

from __future__ import annotations

import argparse
import dataclasses

from interaction_lake.cli_common import UsageError, lake_option, settings_from


def cmd_serve(args: argparse.Namespace) -> int:
    from interaction_lake.serving import serve

    pairs = [item.partition("=") for item in args.conf]
    if any(not key or not sep for key, sep, _ in pairs):
        raise UsageError("--conf takes KEY=VALUE (e.g. spark.hadoop.hive.server2.authentication=LDAP)")
    settings = settings_from(args)
    settings = dataclasses.replace(settings, extra_spark_conf={**settings.extra_spark_conf, **{k: v for k, _, v in pairs}})
    serve(settings, host=args.host, hive_port=args.port, connect_port=args.connect_port,
          refresh_seconds=args.refresh_seconds, ready=lambda text: print(text, flush=True))
    return 0


def add_parser(sub) -> None:
    from interaction_lake.serving import CONNECT_PORT, HIVE_PORT

    sv = sub.add_parser("serve", help="a SQL endpoint over the marts and silver for BI tools: HiveServer2 (JDBC/ODBC) and "
                                      "Spark Connect, on Apache Spark with Delta (needs Java and 'make jars')")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface; there is no "
                                                          "authentication, so only on a trusted network; default 127.0.0.1)")
    sv.add_argument("--port", type=int, default=HIVE_PORT, help=f"HiveServer2 port (JDBC URL jdbc:hive2://HOST:PORT/gold; default {HIVE_PORT})")
    sv.add_argument("--connect-port", type=int, default=CONNECT_PORT, help=f"Spark Connect port (sc://HOST:PORT; default {CONNECT_PORT})")
    sv.add_argument("--refresh-seconds", type=float, default=60.0,
                    help="how often new marts and columns are looked for and registered (default 60)")
    sv.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                    help="a Spark or Thrift server setting, repeatable (e.g. spark.hadoop.hive.server2.authentication=LDAP; default none)")
    lake_option(sv)
    sv.set_defaults(func=cmd_serve)
