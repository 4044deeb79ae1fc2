"""Every command answers --help, and the top-level help lists them."""

import pytest

from dannasep.engine.cli import build_parser, main


def _commands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return list(action.choices)


def test_top_level_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("separate", "models", "bench"):
        assert name in out
    assert "unavailable" not in out


@pytest.mark.parametrize("command", _commands())
def test_each_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert len(capsys.readouterr().out) > 200


@pytest.mark.slow
def test_models_table_lists_all_configs(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "35,573,392" in out and "15,676,652" in out and "191,928,152" in out and "149,462,504" in out
    assert out.count("live") >= 3
