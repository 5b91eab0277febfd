fn main() {
    let a: Vec<u64> = std::env::args()
        .skip(1)
        .map(|x| x.parse().unwrap())
        .collect();
    let s = regbuf_fuzz::live::live_scenario(&regbuf_fuzz::campaign::draw(
        a[0],
        a[1],
        &Default::default(),
    ));
    print!("{}", s.to_toml());
}
