"""The GitHub Action's entry point (`autograder action`, action.yml at the repository
root): grade the student's repository in-process, in the sandbox, and put the result
where people look. A composition root like the CLI: it may import every service.
"""
