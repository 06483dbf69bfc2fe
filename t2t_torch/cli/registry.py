"""`t2t-registry [usr_dir=PATH]`: print every registered problem, model and hparams set."""

from __future__ import annotations

import sys

from t2t_torch.errors import T2TUserError

PROGRAM = "t2t-registry"


def main(argv: list[str] | None = None) -> int:
    import t2t_torch  # noqa: F401  (registers the built-ins)
    from t2t_torch import registry
    from t2t_torch.usr_dir import import_usr_dir

    try:
        for arg in sys.argv[1:] if argv is None else argv:
            if arg.startswith("usr_dir="):
                import_usr_dir(arg.split("=", 1)[1])
    except T2TUserError as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 2
    print(registry.registry_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
