# El catálogo de mensajes de las páginas de Custos, en español. Cada mensaje de en.ftl está
# aquí también (una prueba lo comprueba).

## El selector de idioma
language-switch = Leer esta página en:

## La página pública de subencargados de un encargado (public_subprocessor_page: true)
subprocessors-title = Subencargados de { $name }
subprocessors-as-of = A { $date }.
subprocessors-subscribe = Suscribirse a los cambios (Atom)
subprocessors-current = Actuales
subprocessors-none = Ninguno.
subprocessors-col-subprocessor = Subencargado
subprocessors-col-country = País
subprocessors-col-service = Qué hace
subprocessors-col-locations = Dónde
subprocessors-announced = Anunciados
subprocessors-none-announced = No hay cambios anunciados.
subprocessors-col-candidate = Candidato
subprocessors-col-will-do = Qué hará
subprocessors-col-replaces = Sustituye a
subprocessors-col-announced-on = Anunciado
subprocessors-feed-title = Cambios de subencargados de { $name }
subprocessors-feed-entry = { $name } anuncia a { $candidate } ({ $country })
subprocessors-feed-summary = { $candidate } ({ $country }) como subencargado: { $service }{ $replaces }. Estado: { $status }.
subprocessors-feed-replacing = , en sustitución de { $replaced }
