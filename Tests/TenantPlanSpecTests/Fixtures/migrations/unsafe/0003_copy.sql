-- copy
COPY b FROM STDIN;
