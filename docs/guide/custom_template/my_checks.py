import ast


@test
def defines(submission, function: str, file: str = "main.py"):
    """Passes when the file defines the function."""
    tree = ast.parse(submission.files[file])
    names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    return function in names, f"{function} is {'' if function in names else 'not '}defined."


@test
def documented(submission, file: str = "main.py"):
    """Scores the share of the file's functions that have a docstring."""
    tree = ast.parse(submission.files[file])
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    if not functions:
        return 0, "No functions found."
    missing = [function.name for function in functions if ast.get_docstring(function) is None]
    score = 100 * (len(functions) - len(missing)) / len(functions)
    if not missing:
        return score, "Every function has a docstring."
    return score, f"Functions without a docstring: {', '.join(missing)}."
