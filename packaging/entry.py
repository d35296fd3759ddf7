"""Entry point of the desktop bundle: one executable, two front ends.

`cast-studio` starts the studio (cast_studio.app.main). Started as `cast`
(the bundle's symlink next to it) or as `cast-studio --cli ...`, it is the
command line (cast_engine.cli.main): both share one copy of torch and
transformers in the bundle's _internal/ folder.
"""

import multiprocessing
import os
import sys


def main() -> int:
    # The training process and sweep workers are spawned as this same executable: freeze_support()
    # turns such a child into the process it was started as and never returns there.
    multiprocessing.freeze_support()
    args = sys.argv[1:]
    if os.path.basename(sys.argv[0]) == "cast" or args[:1] == ["--cli"]:
        from cast_engine.cli import main as cli_main

        return cli_main(args[1:] if args[:1] == ["--cli"] else args)
    from cast_studio.app import main as studio_main

    return studio_main(args)


if __name__ == "__main__":
    sys.exit(main())
