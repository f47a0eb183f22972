"""The feedback service: step FEEDBACK, and the student text of a failed pipeline.

`logic` turns a graded result tree (or a failed step) into Markdown a student reads;
every sentence comes from the locale catalogues in `locales/`, loaded by `catalog`.
"""
