"""Custom templates: an instructor's Python module of test functions, carried in the
config (`custom_templates`) and used by listing its name in `template_name`.

The convention for the module:

    @test
    def prints_a_greeting(submission, greeting: str = "Hello", min_lines: int = 1):
        \"\"\"The first docstring line describes the check.\"\"\"
        text = submission.files.get("main.py", "")
        return greeting in text, "Say hello first."

- A test function is a top-level `def` decorated with `@test` (the harness provides
  `test`; no import). `@test` is its only decorator. Other functions are helpers.
- Its first parameter receives the submission, read-only: `submission.files` (path ->
  text of the working directory's UTF-8 files, assets included) and
  `submission.language`.
- Its other parameters are the test's parameters in the criteria config, validated when
  the config is created exactly like a built-in function's. Annotate each with str, int,
  float, bool, list, list[str], list[int], list[float] or dict (optionally `| None`), or
  leave it unannotated to accept any JSON value; a default (a literal) makes it
  optional. `**params` accepts any other parameter too. `time_limit_ms` and
  `memory_limit_mb` are reserved: every custom test takes them, as input_output does.
- It returns True/False, a score from 0 to 100, or `(score, message)`; the message is
  shown to the student. An exception is a grading-setup problem: the test gets the
  verdict "error" and the traceback goes to the grading service's log, not to students.
- To exercise the student's program, run it as a subprocess (`subprocess.run(["python3",
  "main.py"], input=..., capture_output=True, text=True, timeout=...)`): code imported
  into the check's own process could tamper with the check.

Intake never runs this code: `reading` checks it with `ast` (and the compiler, which
does not execute anything); `running` executes it only in the submission's sandbox,
through `harness`, under the test's time and memory limits.
"""

from shared.grading.templates.custom.loading import CustomTemplates, custom_templates

__all__ = ["CustomTemplates", "custom_templates"]
