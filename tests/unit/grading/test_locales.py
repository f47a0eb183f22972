"""A pt_BR GradeContext makes every template speak Brazilian Portuguese; code, file names
and outputs are kept as the student wrote them."""

from typing import Any

from contracts.sandbox import Verdict
from shared.grading.criteria import build_tree
from shared.grading.ports import GradeContext
from shared.grading.scoring import grade, run_tests, score_tree
from shared.grading.templates import TestOutcome, get_template
from tests.unit.grading.fakes import FakeRunner, check, context, ran

PT = "pt_BR"


async def run(
    template: str, function: str, params: dict[str, Any], ctx: GradeContext
) -> TestOutcome:
    test_function = get_template(template).functions[function]
    return await test_function.run(ctx, test_function.params_model.model_validate(params))


async def expect_output(result: Any, **params: Any) -> TestOutcome:
    ctx = context(FakeRunner(result), locale=PT)
    return await run("input_output", "expect_output", {"expected_output": "3", **params}, ctx)


def source_context(files: dict[str, str], language: str = "python") -> GradeContext:
    return GradeContext(language, files, runner=None, locale=PT)


async def test_wrong_output_names_the_first_differing_line_in_portuguese() -> None:
    outcome = await expect_output(ran(stdout="1\n5\n3\n"), expected_output="1\n2\n3")
    assert outcome.message == (
        "A saída do seu programa difere da saída esperada na linha 2.\nEsperado: '2'\nObtido:   '5'"
    )


async def test_output_that_stops_early_says_so_in_portuguese() -> None:
    outcome = await expect_output(ran(stdout="1\n"), expected_output="1\n2")
    assert "Obtido:   (nada: a saída termina antes desta linha)" in outcome.message


async def test_a_runtime_error_is_explained_in_portuguese_with_the_error_output_as_is() -> None:
    stderr = "ZeroDivisionError: division by zero\n"
    outcome = await expect_output(ran(exit_code=1, verdict=Verdict.RUNTIME_ERROR, stderr=stderr))
    assert outcome.verdict == "runtime_error"
    assert outcome.message == (
        "Seu programa falhou: ele terminou com o código 1 em vez de 0.\n"
        "Últimas linhas da saída de erro:\n"
        "ZeroDivisionError: division by zero"
    )


async def test_a_time_limit_is_explained_in_portuguese() -> None:
    outcome = await expect_output(ran(exit_code=None, signal=9, verdict=Verdict.TIME_LIMIT))
    assert outcome.verdict == "time_limit"
    assert outcome.message.startswith(
        "Seu programa não terminou dentro do limite de tempo de 5000 ms."
    )


async def test_a_memory_limit_is_explained_in_portuguese() -> None:
    outcome = await expect_output(
        ran(exit_code=1, verdict=Verdict.RUNTIME_ERROR, stderr="MemoryError")
    )
    assert outcome.verdict == "memory_limit"
    assert outcome.message.startswith("Seu programa usou mais memória do que o limite de 256 MB.")


async def test_long_output_is_cut_with_a_portuguese_note() -> None:
    outcome = await expect_output(ran(stdout="x" * 2500))
    assert outcome.actual is not None
    assert outcome.actual.endswith("\n... [mais 500 caracteres não exibidos]")


async def test_a_clean_run_passes_in_portuguese() -> None:
    ctx = context(FakeRunner(ran()), locale=PT)
    outcome = await run("input_output", "dont_fail", {}, ctx)
    assert outcome.message == "Seu programa executou até o fim sem erros."


async def test_a_forbidden_import_is_listed_in_portuguese() -> None:
    ctx = source_context({"main.py": "import os\n"})
    outcome = await run("static_analysis", "forbidden_import", {"imports": ["os"]}, ctx)
    assert outcome.message.splitlines() == [
        "Importações proibidas encontradas no seu código: 1",
        "- main.py linha 1: importa 'os': `import os`",
    ]


async def test_a_forbidden_construct_is_named_in_portuguese() -> None:
    ctx = source_context({"main.py": "while True:\n    pass\n"})
    outcome = await run("static_analysis", "forbidden_keyword", {"keywords": ["while"]}, ctx)
    assert "- main.py linha 1: laço while: `while True:`" in outcome.message


async def test_a_missing_required_construct_and_a_skipped_keyword_in_portuguese() -> None:
    ctx = source_context({"Main.java": "class Main {}\n"}, language="java")
    params = {"keywords": ["recursion", "comprehension"]}
    outcome = await run("static_analysis", "required_keyword", params, ctx)
    assert outcome.message.splitlines() == [
        "Seu código precisa usar cada um destes itens, mas eles não foram encontrados:",
        "- recursion (recursão (uma função que chama a si mesma))",
        "Não verificado: 'comprehension' (isso não existe em Java).",
    ]


async def test_an_instructors_rule_message_is_kept_in_their_words() -> None:
    ctx = source_context({"main.py": "f = lambda x: -x\n"})
    params = {"rules": [{"kind": "lambda", "message": "a lambda"}]}
    outcome = await run("static_analysis", "forbidden_keyword", params, ctx)
    assert "- main.py linha 1: a lambda: `lambda x: -x`" in outcome.message


async def test_a_missing_webdev_file_fails_in_portuguese() -> None:
    ctx = source_context({"Index.html": "<p>hi</p>"}, language="web")
    outcome = await run("webdev", "has_tag", {"tag": "p"}, ctx)
    assert outcome.verdict == "failed"
    assert outcome.message == (
        "index.html não foi encontrado na sua entrega. Existe Index.html, mas em um servidor "
        "web os nomes de arquivos diferenciam maiúsculas de minúsculas."
    )


async def test_webdev_counts_agree_in_number_in_portuguese() -> None:
    page = "<section>a</section><section>b</section><font>x</font>"
    ctx = source_context({"index.html": page}, language="web")
    counted = await run("webdev", "has_tag", {"tag": "section", "required_count": 3}, ctx)
    assert counted.message == "index.html tem 2 elementos <section>; o mínimo exigido é 3."
    forbidden = await run("webdev", "has_forbidden_tag", {"tag": "font"}, ctx)
    assert forbidden.message == "<font> não é permitido, mas index.html o usa 1 vez (linha 1)."


async def test_a_missing_folder_fails_in_portuguese() -> None:
    ctx = source_context({"index.html": ""}, language="web")
    outcome = await run("webdev", "check_dir_exists", {"dir_path": "css"}, ctx)
    assert outcome.message.startswith("A pasta css/ não foi encontrada na sua entrega.")


async def test_an_ai_test_that_ai_batch_did_not_grade_says_so_in_portuguese() -> None:
    tree = build_tree(
        {"base": {"tests": [{"name": "style", "type": "ai_check", "criterion": "x"}]}}, ["ai"]
    )
    result = await grade(tree, GradeContext("python", {}, None, locale=PT))
    message = result.children["base"].tests[0].message
    assert message.startswith("Este teste não foi avaliado: a etapa de correção por IA")
    assert message.endswith("avise seu professor.")


async def test_a_crashing_test_function_is_a_grader_error_in_portuguese() -> None:
    tree = build_tree({"base": {"tests": [check("a")]}}, ["input_output"])
    runner = FakeRunner(RuntimeError("sandbox exploded"))
    outcome = (await run_tests(tree, context(runner, locale=PT)))["base/a"]
    assert outcome.message.startswith(
        "O corretor falhou ao executar este teste (RuntimeError: sandbox exploded)."
    )


def test_a_test_without_an_outcome_is_explained_in_portuguese() -> None:
    tree = build_tree({"base": {"tests": [check("a")]}}, ["input_output"])
    message = score_tree(tree, {}, PT).children["base"].tests[0].message
    assert message.startswith("Este teste não foi executado")


async def test_english_stays_the_default() -> None:
    ctx = context(FakeRunner(ran()))
    outcome = await run("input_output", "dont_fail", {}, ctx)
    assert outcome.message == "Your program ran to the end without errors."
