import importlib
import pkgutil

import music_time_machine


def all_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(music_time_machine.__path__, prefix="music_time_machine.")
        if ".migrations" not in info.name
    )


def test_every_module_imports():
    names = all_modules()
    assert "music_time_machine.cli" in names and "music_time_machine.web.auth" in names
    for name in names:
        importlib.import_module(name)
