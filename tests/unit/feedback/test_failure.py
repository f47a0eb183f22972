"""The text a student reads when the pipeline stopped at a failed step (render_failure)."""

from typing import Any

import pytest

from contracts.steps import StepName, StepStatus
from services.feedback.logic import render_failure
from tests.unit.feedback.builders import a_failed_step

JAVAC_STDERR = (
    "Calculator.java:4: error: ';' expected\n"
    "        Scanner sc = new Scanner(System.in)\n"
    "                                           ^\n"
    "1 error\n"
)
# The feedback text of reference/pipeline-execution-tracking.txt, up to the language tips.
REFERENCE_HEAD = (
    "## Preflight Check Failed\n\n"
    "Your submission failed during the setup phase before grading could begin.\n\n"
    "### Setup Command Failed: Compile Calculator.java\n\n"
    "**Command executed:**\n```bash\njavac Calculator.java\n```\n\n"
    "**Exit code:** 1\n\n"
    "**Error output:**\n```\n" + JAVAC_STDERR + "```\n\n"
    "**What to do:**\n"
    "- Fix the compilation errors shown above\n"
    "- Pay attention to the line numbers and error messages\n"
    "- Common issues: missing semicolons, undefined variables, syntax errors\n"
)


def setup_failed(command: str, stderr: str, *, stdout: str = "", name: str = "") -> dict[str, Any]:
    return {
        "error_type": "setup_command_failed",
        "phase": "setup_commands",
        "command_name": name or command,
        "failed_command": {"command": command, "exit_code": 1, "stdout": stdout, "stderr": stderr},
    }


def missing_file(name: str, **extra: str) -> dict[str, Any]:
    return {
        "error_type": "required_file_missing",
        "phase": "required_files",
        "missing_file": name,
    } | extra


def failure(details: dict[str, Any] | None, language: str = "java", locale: str = "en") -> str:
    return render_failure(a_failed_step(StepName.PRE_FLIGHT, details), language, locale)


# --- setup command failed -------------------------------------------------------------


def test_compile_failure_matches_the_reference_layout() -> None:
    details = setup_failed("javac Calculator.java", JAVAC_STDERR, name="Compile Calculator.java")

    text = failure(details)

    assert text.startswith(REFERENCE_HEAD)
    assert text.endswith("- Resubmit after fixing all compilation errors\n")


def test_error_output_falls_back_to_stdout_when_stderr_is_empty() -> None:
    details = setup_failed("make", "", stdout="main.c:3:5: error: expected ';'\n")

    assert "**Error output:**\n```\nmain.c:3:5: error: expected ';'\n```" in failure(details, "c")


def test_java_guidance_covers_semicolons_class_names_and_imports() -> None:
    text = failure(setup_failed("javac Calculator.java", JAVAC_STDERR))

    assert "`';' expected`" in text
    assert "`public class Calculator` goes in `Calculator.java`" in text
    assert "import java.util.Scanner;" in text


def test_c_guidance_covers_headers_undeclared_names_and_main() -> None:
    stderr = "main.c:5:3: error: implicit declaration of function 'printf'\n"
    text = failure(setup_failed("gcc -o main main.c", stderr), "c")

    assert "#include" in text
    assert "<stdio.h>" in text
    assert "`undeclared`" in text
    assert "`int main(void)`" in text
    assert "Scanner" not in text


def test_cpp_guidance_covers_includes_namespaces_and_templates() -> None:
    text = failure(setup_failed("g++ -o main main.cpp", "main.cpp:4:5: error: ..."), "cpp")

    assert "<iostream>" in text
    assert "`std::`" in text
    assert "Template errors" in text


def test_python_guidance_covers_syntax_indentation_and_missing_modules() -> None:
    stderr = "  File \"main.py\", line 3\n    if x > 1\n            ^\nSyntaxError: expected ':'\n"
    text = failure(setup_failed("python -m py_compile main.py", stderr), "python")

    assert "- Fix the errors shown above\n" in text
    assert "compilation" not in text
    assert "`SyntaxError`" in text
    assert "`IndentationError`" in text
    assert "`ModuleNotFoundError`" in text


def test_node_guidance_covers_syntax_and_module_paths() -> None:
    text = failure(setup_failed("node --check index.js", "SyntaxError: Unexpected token"), "node")

    assert "Unexpected token" in text
    assert "`Cannot find module`" in text
    assert "require('./utils')" in text


def test_unknown_language_gets_generic_advice() -> None:
    text = failure(setup_failed("ruby -c main.rb", "syntax error"), "ruby")

    assert "- Common issues: syntax errors, misspelled names, missing files\n" in text


def test_a_10000_line_compiler_output_keeps_the_first_error_and_says_it_was_cut() -> None:
    flood = "Main.java:1: error: class, interface, or enum expected\n" + "".join(
        f"Main.java:{line}: error: cascading error\n" for line in range(2, 10_001)
    )

    text = failure(setup_failed("javac Main.java", flood))

    assert len(text) < 6_000
    assert "Main.java:1: error: class, interface, or enum expected" in text
    assert "Main.java:10000:" not in text
    assert "Output truncated: showing the first 60 of 10000 lines" in text
    assert "Start with the first error" in text
    assert text.endswith("- Resubmit after fixing all compilation errors\n")


def test_a_single_huge_line_is_cut_by_characters() -> None:
    text = failure(setup_failed("javac Main.java", "x" * 50_000))

    assert "x" * 4_000 in text
    assert "x" * 4_001 not in text
    assert "showing the first 4000 of 50000 characters" in text


def test_output_containing_backticks_cannot_break_out_of_its_code_block() -> None:
    text = failure(setup_failed("node --check a.js", "```\n**not bold**\n```"), "node")

    assert "````\n```\n**not bold**\n```\n````" in text


def test_compile_failure_in_portuguese() -> None:
    details = setup_failed("javac Calculator.java", JAVAC_STDERR, name="Compile Calculator.java")

    text = failure(details, locale="pt-BR")

    assert text.startswith("## Falha na Verificação Inicial\n")
    assert "### Falha no Comando de Preparação: Compile Calculator.java" in text
    assert "**Código de saída:** 1" in text
    assert "**O que fazer:**" in text
    assert "ponto e vírgula" in text
    assert "What to do" not in text


# --- required file missing ------------------------------------------------------------


def test_missing_file_names_the_file_and_reminds_that_case_matters() -> None:
    text = failure(missing_file("Calculator.java"))

    assert text.startswith("## Preflight Check Failed\n")
    assert "### Required File Missing: `Calculator.java`" in text
    assert "case-sensitive: `Calculator.java` and `calculator.java` are different files" in text


def test_missing_file_points_at_the_near_miss_the_student_uploaded() -> None:
    text = failure(missing_file("Calculator.java", near_miss="calculator.java"))

    assert "We found `calculator.java` in your submission. Did you mean `Calculator.java`?" in text


def test_missing_file_without_a_near_miss_does_not_guess() -> None:
    assert "Did you mean" not in failure(missing_file("main.py"))


def test_missing_file_in_portuguese() -> None:
    text = failure(missing_file("Calculator.java", near_miss="calculator.java"), locale="pt_BR")

    assert "### Arquivo Obrigatório Ausente: `Calculator.java`" in text
    assert "Encontramos `calculator.java` na sua submissão" in text
    assert "diferenciam maiúsculas de minúsculas" in text


# --- not the student's fault ----------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "details"),
    [
        (StepName.GRADE, {"error_type": "internal_error", "detail": "worker crashed"}),
        (StepName.SANDBOX, None),
        (StepName.PRE_FLIGHT, {"error_type": "internal_error"}),
        (StepName.PRE_FLIGHT, None),
    ],
)
def test_internal_error_says_plainly_it_is_not_the_students_fault(
    step: StepName, details: dict[str, Any] | None
) -> None:
    text = render_failure(a_failed_step(step, details), "python", "en")

    assert "**This is not a problem with your code**" in text
    assert "grade your submission again automatically" in text
    assert "resubmit the same files" in text
    assert f"`{step.value}`" in text
    assert "Preflight Check Failed" not in text
    assert "worker crashed" not in text


def test_internal_error_in_portuguese() -> None:
    text = render_failure(a_failed_step(StepName.GRADE, None), "python", "pt")

    assert "**O problema não está no seu código**" in text
    assert "envie os mesmos arquivos novamente" in text


def test_unrecognised_preflight_error_still_shows_the_steps_message() -> None:
    step = a_failed_step(StepName.PRE_FLIGHT, {"error_type": "asset_missing"})

    text = render_failure(step, "python", "en")

    assert text.startswith("## Preflight Check Failed\n")
    assert "> failed" in text


def test_a_successful_step_is_not_a_failure_to_explain() -> None:
    step = a_failed_step().model_copy(update={"status": StepStatus.SUCCESS})

    with pytest.raises(ValueError, match="did not fail"):
        render_failure(step, "python", "en")
