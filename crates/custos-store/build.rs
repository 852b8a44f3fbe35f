// Migrations are embedded by `sqlx::migrate!`; without this, a new migration file would not
// trigger a rebuild.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=migrations-postgres");
}
